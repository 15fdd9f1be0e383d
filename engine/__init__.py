"""Twin Lab engine: the numerical library behind the app and the CLI (no Streamlit here)."""

__version__ = "0.1.0"
