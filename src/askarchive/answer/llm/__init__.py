"""answer/llm"""
