"""dashboard stage of dancenow: a read-only Streamlit app over the results folders and datasets
(``dancenow dashboard``; entry point ``app.py``, pages in ``views/``)."""
