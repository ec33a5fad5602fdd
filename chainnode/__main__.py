"""`python -m chainnode` is the `chainnode` command."""

from chainnode.cli.main import main

if __name__ == "__main__":
    main()
