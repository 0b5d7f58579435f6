"""Granite Speech Workbench demo. `python app.py --help` lists the flags."""

from granite_workbench.app_main import main

if __name__ == "__main__":
    main()
