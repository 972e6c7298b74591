"""The index on disk: ``sqlite.Store`` is the one object the rest of the package uses; every SQL
statement of the index lives in this folder, and the FAISS index (``dense``) is held by it."""
