# The two commands of the README: `make demo` and `make test`. Everything else is a helper.
.PHONY: demo test test-fast lint bench clean

demo:
	scripts/setup
	.venv/bin/tongban demo

test:
	scripts/setup --test
	$(MAKE) lint
	.venv/bin/python -m pytest -q

# Lint, format and types: part of `make test`, and quick enough to run alone while editing.
lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

# Without the browser tests, for a quick loop while editing.
test-fast:
	scripts/setup --test
	.venv/bin/python -m pytest -q -m "not browser" --ignore=tests/browser

bench:
	scripts/setup --test
	for b in bench/bench_*.py; do .venv/bin/python "$$b" || exit 1; done

clean:
	rm -rf .venv var test-artifacts .pytest_cache .hypothesis
