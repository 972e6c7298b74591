# The two quick-start targets are `make chat` and `make test`; both set everything up first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.askarchive-installed

.PHONY: setup chat demo test lint format bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The CPU build first: an unpinned torch would pull a multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

# The `ray` extra for tests/test_ray.py (`index --ray`); torch stays the CPU build installed above.
RAY_STAMP := $(VENV)/.askarchive-ray-installed
$(RAY_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[ray]'
	touch $(RAY_STAMP)

chat: setup
	$(BIN)/askarchive chat --archive examples/archive

demo: setup
	$(BIN)/askarchive index examples/archive
	$(BIN)/askarchive ask "Who replaced Jordan's water minister Haddadin in June 2016?"

test: setup $(RAY_STAMP)
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: setup
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

# Figures of BENCHMARKS.md (about 3 h on 2 idle cores; data from ../shared/bench, output in bench-out/).
bench: setup
	# The LangChain baseline of newsqa.py: a benchmark-only extra, never needed by the package.
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	mkdir -p bench-out
	$(BIN)/python benchmarks/indexing.py throughput | tee bench-out/throughput.txt
	$(BIN)/python benchmarks/indexing.py incremental | tee bench-out/incremental.txt
	$(BIN)/python benchmarks/retrieval.py --rebuild | tee bench-out/retrieval.txt
	$(BIN)/python benchmarks/retrieval.py --threads 1 | tee bench-out/retrieval-1thread.txt
	$(BIN)/python benchmarks/quality.py | tee bench-out/quality-paragraphs.txt
	$(BIN)/python benchmarks/quality.py --articles | tee bench-out/quality-articles.txt
	$(BIN)/python benchmarks/fusion.py --limit 3000 | tee bench-out/fusion.txt
	$(BIN)/python benchmarks/answers.py --questions 400 | tee bench-out/answers.txt
	$(BIN)/python benchmarks/startup.py | tee bench-out/startup.txt
	$(BIN)/python benchmarks/newsqa.py --reindex | tee bench-out/newsqa.txt

clean:
	rm -rf $(VENV) embeddings/store-* embeddings/CURRENT embeddings/index.lock
