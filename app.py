"""`streamlit run app.py [-- --db PATH]`: the sfteval app (its code ships in the package as sfteval/ui/app.py)."""
from sfteval.ui.app import main

main()
