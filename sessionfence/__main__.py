from sessionfence.cli import main

# Guarded: `verify --jobs` starts worker processes that import this module
# again (multiprocessing's spawn) and must not run the command a second time.
if __name__ == "__main__":
    raise SystemExit(main())
