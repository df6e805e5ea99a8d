# The README's two commands: `make demo` (the main job) and `make test` (the whole suite).
# Both create the virtual environment in .venv first when it is missing or out of date.
.PHONY: demo test venv lint

VENV := .venv
BIN := $(VENV)/bin

venv:
	@./scripts/venv.sh

demo: venv
	$(BIN)/salmap predict salmap/data/nus_mini/images --out outputs/demo --overwrite

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest -n 2 --durations=15
