"""Widgets of the chat app. None of them reads or writes a database: screens do that."""
