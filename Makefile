# Two commands on a fresh Debian machine: `make demo` and `make test`. Both set up what they need.
.PHONY: setup demo test lint bench

setup:
	@bash scripts/setup.sh

demo: setup
	.venv/bin/emodub demo --out-dir out

test: setup
	.venv/bin/ruff check src tests bench
	.venv/bin/python -m pytest -q

lint: setup
	.venv/bin/ruff check src tests bench

bench: setup
	.venv/bin/python bench/intelligibility.py
	.venv/bin/python bench/builtin_engine.py
	.venv/bin/python bench/recognition.py
	.venv/bin/python bench/dubbing.py
	.venv/bin/python bench/compare_engines.py
	.venv/bin/python bench/serve.py
