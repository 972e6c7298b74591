"""``Archive``: the one facade the CLI, the TUI and Python users call.

Each public method is one user-level action; the CLI maps one command onto one method with the
same option names. Opening is cheap: the model loads on first embed, FAISS on first search.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from askarchive.conversation import Conversation
from askarchive.embed.embedding import Embedder, SentenceTransformerEmbedder
from askarchive.errors import BadInput, StoreCorrupt, StoreEmpty, StoreMissing
from askarchive.index.chunking import ChunkSettings
from askarchive.models import (
    Answer,
    Article,
    DateWindow,
    IndexReport,
    Passage,
    Skipped,
    Stats,
    Turn,
)
from askarchive.store.folder import lock_folder
from askarchive.store.sqlite import Store

if TYPE_CHECKING:
    from askarchive.answer.llm.config import LLMConfig
    from askarchive.embed.embedding import BatchEncoder
    from askarchive.index.indexer import ProgressCallback
    from askarchive.index.ray_embed import RayOption
    from askarchive.search.retriever import Mode, Retriever

DEFAULT_INDEX = "embeddings"


def default_index_dir() -> Path:
    return Path(os.environ.get("ASKARCHIVE_INDEX") or DEFAULT_INDEX)


class Archive:
    """An index directory plus the model that reads and writes it."""

    def __init__(
        self, root: Path, store: Store, embedder: Embedder, settings: ChunkSettings
    ) -> None:
        self.root = root
        self._store = store
        self.embedder = embedder
        self.settings = settings
        self._retriever: Retriever | None = None

    # -- opening ------------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        index: str | Path | None = None,
        *,
        model: str | None = None,
        embedder: Embedder | None = None,
        chunk_tokens: int | None = None,
        chunk_overlap: int | None = None,
        create: bool = True,
        rebuild: bool = False,
        encoder: str | None = None,
    ) -> Archive:
        """Open (or with ``create``, start) the store in ``index`` (default ``./embeddings``).

        Without ``create`` the archive is read-only: no file in ``index`` is created or changed
        (``index()`` still works; it opens its own writer). ``rebuild`` says the caller is about
        to call ``index(..., rebuild=True)``: a damaged store then opens as an empty one and the
        rebuild moves it aside, and the model and chunk settings are not checked against it.

        ``encoder`` picks the variant of the vectors (``"int8"`` or ``"fp32"``, see
        embed/variants.py) for a new index or a rebuild; an existing index keeps the one it was
        built with, and asking for another is refused with a message naming ``--rebuild``.
        """
        root = Path(index).expanduser() if index is not None else default_index_dir()
        if root.exists() and not root.is_dir():
            raise BadInput(f"--index {root} is a file, not a folder; pass a folder for the index")
        try:
            # Before a rebuild the old store is only read: it is replaced, never written.
            store = Store.open(root, create=create and not rebuild)
        except StoreCorrupt:
            if not rebuild:
                raise
            store = None
        if store is None and rebuild:
            store = Store.placeholder(root)
        if store is None:
            raise StoreMissing(
                f"no index at {root}; build one with `askarchive index PATH --index {root}`"
            )
        manifest = store.manifest()
        variant = _variant(manifest, encoder, root, rebuild)
        emb = embedder or SentenceTransformerEmbedder(model, encoder=variant)
        default = ChunkSettings()
        stored = ChunkSettings(
            int(manifest.get("chunk_tokens", default.max_tokens)),
            int(manifest.get("chunk_overlap", default.overlap_tokens)),
        )
        settings = ChunkSettings(
            chunk_tokens if chunk_tokens is not None else stored.max_tokens,
            chunk_overlap if chunk_overlap is not None else stored.overlap_tokens,
        )
        if "model" in manifest and not rebuild:
            store.check_manifest(emb.name, emb.dim, settings.as_manifest())
            _variant(manifest, getattr(emb, "encoder", None), root, rebuild)
        return cls(root, store, emb, settings)

    def _manifest_settings(self) -> dict[str, int | str]:
        """What a new manifest records beside the model: chunking, and the encoder variant."""
        values: dict[str, int | str] = dict(self.settings.as_manifest())
        encoder = getattr(self.embedder, "encoder", None)
        if encoder is not None:
            values["encoder"] = encoder
        return values

    def _refresh(self) -> None:
        """Reopen a read-only store opened ``immutable`` once a writer has touched its file, so
        it shares the writer's WAL (and sees its commits) instead of reading pages under it."""
        if self._store.stale():
            fresh = Store.open(self.root, create=False)
            if fresh is not None:
                # A thread still reading through the old store keeps it until it is done.
                self._store, self._retriever = fresh, None

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def warm_up(self, *, queries: bool = True) -> None:
        """Load the embedding model now (it otherwise loads on first use) and, with ``queries``,
        switch questions to the fast ONNX Runtime encoder. The first warm-up on a machine
        exports that encoder (about 20 s, once per model); later ones open the cached file."""
        prepare = getattr(self.embedder, "prepare_queries", None)
        if prepare is not None:
            # Opens the ONNX question encoder (no torch); with ``queries`` it is made if it is
            # missing. Only an fp32 index without one loads the PyTorch model instead.
            prepare(export=queries)
            return
        load = getattr(self.embedder, "load", None)
        if load is not None:
            load()

    # -- indexing -----------------------------------------------------------------------------
    def index(
        self,
        paths: Sequence[str | Path],
        *,
        rebuild: bool = False,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
        ray: RayOption = None,
        device: str = "auto",
    ) -> IndexReport:
        """Bring the index up to date with ``paths``; only new or changed articles are embedded.

        ``ray`` embeds them on Ray (the ``ray`` extra): True or "local" starts a local Ray for
        the run, a string is a cluster address (HOST:6379, ray://HOST:10001, auto), and a
        ``RayEmbedder`` is a pool the caller keeps. Deciding and writing stay here.

        ``device`` runs the embedding on ``"cuda"``, ``"cpu"``, or with ``"auto"`` on a GPU
        when PyTorch or ONNX Runtime reports one and on the CPU otherwise.
        """
        from askarchive.index import ray_embed
        from askarchive.index.indexer import check_paths, run_index

        check_paths(paths)
        # Ray workers embed with this index's encoder variant, on the CPU of their nodes.
        ray_embed.check(ray)
        if hasattr(self.embedder, "set_device"):
            self.embedder.set_device(device)
        if rebuild:
            try:
                with ray_embed.remote_encoder(self.embedder, ray) as remote:
                    return self._rebuild(paths, progress, cancel, encoder=remote)
            finally:
                self._retriever = None
        # The write gets its own connection, so searches from other threads (the chat) keep a
        # consistent view of the last commit while indexing runs.
        writer = Store.open(self.root, create=True)
        assert writer is not None
        try:
            writer.lock()
            self._refresh()  # the writer's WAL exists now: readers move onto it before any write
            if "model" not in writer.manifest():
                writer.init_manifest(
                    self.embedder.name, self.embedder.dim, self._manifest_settings()
                )
            writer.remove_stale_files()
            with ray_embed.remote_encoder(self.embedder, ray) as remote:
                return run_index(
                    writer,
                    self.embedder,
                    self.settings,
                    paths,
                    progress=progress,
                    cancel=cancel,
                    encoder=remote,
                )
        finally:
            writer.close()
            self._retriever = None

    def _rebuild(
        self,
        paths: Sequence[str | Path],
        progress: ProgressCallback | None,
        cancel: threading.Event | None,
        encoder: BatchEncoder | None = None,
    ) -> IndexReport:
        """Build a new database beside the live one, then switch to it. The live store is not
        opened (it may be damaged); if it cannot be read, its files are moved aside, not lost."""
        from askarchive.index.indexer import run_index

        Store.make_folder(self.root)
        lock = lock_folder(self.root)
        try:
            fresh = Store.open_file(self.root, Store.new_database_path(self.root))

            def discard() -> None:
                fresh.close()
                for p in self.root.glob(f"store-{fresh.uid}*"):
                    p.unlink(missing_ok=True)

            try:
                fresh.init_manifest(
                    self.embedder.name, self.embedder.dim, self._manifest_settings()
                )
                report = run_index(
                    fresh,
                    self.embedder,
                    self.settings,
                    paths,
                    progress=progress,
                    cancel=cancel,
                    encoder=encoder,
                )
            except BaseException:
                discard()
                raise
            if report.interrupted:
                discard()  # half a rebuild is not an index: keep serving the old one
                return report
            damage = Store.damage(self.root)
            if damage is not None:
                moved = Store.move_aside(self.root, keep=fresh.db_path)
                report.warnings.append(
                    Skipped(
                        str(self.root),
                        f"the index was damaged ({damage}); moved its files to {moved} "
                        "and built a fresh one",
                    )
                )
            fresh.publish()
            fresh.remove_stale_files()
            fresh.close()
        finally:
            os.close(lock)  # releases the lock
        # Readers elsewhere keep the old (now unlinked) file until they reopen; this one moves on.
        reopened = Store.open(self.root, create=False)
        assert reopened is not None
        old, self._store = self._store, reopened
        old.close()
        return report

    # -- reading ------------------------------------------------------------------------------
    def stats(self) -> Stats:
        articles, chunks = self._store.counts()
        first, last = self._store.date_range()
        model = self._store.manifest().get("model", self.embedder.name)
        return Stats(articles, chunks, model, first, last, self._store.size_bytes())

    def roots(self) -> list[Path]:
        """The folders and files given to ``index``: paths are shown relative to them."""
        return self._store.roots()

    def article(self, article_id: str) -> Article:
        found = self._store.article(article_id)
        if found is None:
            raise BadInput(
                f"no article with id {article_id!r} in {self.root}; ids come from search results"
            )
        return found

    def _require_articles(self) -> None:
        self._refresh()
        if self._store.chunk_table().articles == 0:
            if self._store.writer_active():
                raise StoreEmpty(
                    f"the index at {self.root} is still being built; "
                    "ask again when indexing finishes"
                )
            raise StoreEmpty(
                f"the index at {self.root} is empty; add articles with "
                f"`askarchive index PATH --index {self.root}`"
            )

    @property
    def retriever(self) -> Retriever:
        from askarchive.search.retriever import Retriever

        if self._retriever is None:
            self._retriever = Retriever(self._store, self.embedder)
        return self._retriever

    @staticmethod
    def explicit_window(
        since: str | dt.date | None, until: str | dt.date | None
    ) -> DateWindow | None:
        from askarchive.search.querydates import parse_date_arg

        lo = parse_date_arg(since, end=False)
        hi = parse_date_arg(until, end=True)
        if lo is not None and hi is not None and lo > hi:
            raise BadInput(f"--since {lo} is after --until {hi}; swap them")
        return DateWindow(lo, hi, "explicit") if (lo or hi) else None

    def resolve_window(
        self,
        query: str,
        since: str | dt.date | None,
        until: str | dt.date | None,
        parse_dates: bool,
    ) -> tuple[str, DateWindow | None]:
        """The query to run and the date window: explicit since/until win over query phrases.

        A filter's date words are cut from the query; a hint's stay, since the article often
        repeats them ("in the week ended March 7").
        """
        from askarchive.search.querydates import merge, parse_window

        explicit = self.explicit_window(since, until)
        cleaned, parsed = parse_window(query) if parse_dates else (query, None)
        window = merge(explicit, parsed)
        if window is not None and window.use == "hint":
            return query.strip(), window
        return (cleaned.strip() or query), window

    def search(
        self,
        query: str,
        k: int = 5,
        since: str | dt.date | None = None,
        until: str | dt.date | None = None,
        mode: Mode = "hybrid",
        parse_dates: bool = True,
        source: str | None = None,
    ) -> list[Passage]:
        """Top ``k`` passages for ``query``, each with an exact citation."""
        from askarchive.search.retriever import MODES

        if not query or not query.strip():
            raise BadInput("the query is empty; type some words to search for")
        if k < 1:
            raise BadInput(f"k must be at least 1 (got {k})")
        if mode not in MODES:
            raise BadInput(f"unknown mode {mode!r}; use one of: {', '.join(MODES)}")
        text, window = self.resolve_window(query, since, until, parse_dates)
        self._require_articles()
        return self.retriever.search(text, k, window=window, source=source, mode=mode)

    # -- answering ----------------------------------------------------------------------------
    def ask(
        self,
        question: str,
        history: Sequence[Turn | str] | None = None,
        since: str | dt.date | None = None,
        until: str | dt.date | None = None,
        llm: LLMConfig | str | bool | None = None,
        model: str | None = None,
        on_token: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
        source: str | None = None,
        k: int = 5,
    ) -> Answer:
        """Answer ``question`` from the archive, citing every sentence, or say it is not there.

        ``llm``: None uses the endpoint configured by env or config file (if any), False never
        uses one, a string is an endpoint URL. ``model`` names the LLM model.
        """
        from askarchive.answer.pipeline import answer_question

        if not question or not question.strip():
            raise BadInput("the question is empty; type a question about the archive")
        self.explicit_window(since, until)  # validate dates before any work
        self._require_articles()
        turns = [t if isinstance(t, Turn) else Turn(t, t) for t in (history or [])]
        return answer_question(
            question,
            turns,
            retriever=self.retriever,
            embedder=self.embedder,
            explicit_window=self.explicit_window,
            since=since,
            until=until,
            llm=llm,
            model=model,
            on_token=on_token,
            cancel=cancel,
            source=source,
            k=k,
        )

    def conversation(
        self,
        since: str | dt.date | None = None,
        until: str | dt.date | None = None,
        source: str | None = None,
    ) -> Conversation:
        return Conversation(self, since, until, source)


def _variant(manifest: dict[str, str], requested: str | None, root: Path, rebuild: bool) -> str:
    """The encoder variant to use with this index: the one its manifest records (an index from
    before variants were recorded is fp32), or for a new index or a rebuild the one asked for."""
    from askarchive.embed.variants import DEFAULT_ENCODER, LEGACY_ENCODER, check_encoder
    from askarchive.errors import StoreMismatch

    if requested is not None:
        check_encoder(requested)
    if "model" not in manifest or rebuild:
        return requested or DEFAULT_ENCODER
    built = manifest.get("encoder", LEGACY_ENCODER)
    if requested is not None and requested != built:
        raise StoreMismatch(
            f"the index at {root} was built with the {built} encoder, not {requested}; "
            f"drop --encoder, or rebuild it with `askarchive index PATH --rebuild "
            f"--encoder {requested} --index {root}`"
        )
    return built
