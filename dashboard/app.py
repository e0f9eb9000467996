"""The dancenow dashboard: ``dancenow dashboard [RESULTS_DIR...]`` runs ``streamlit run`` on this file.

Five pages (``views/``), each reading only below the folders the dashboard was started with
(:mod:`dashboard.files`). Page files are scripts Streamlit runs; their logic is in ``render()``.
"""

from __future__ import annotations

import streamlit as st

from dashboard import loaders, ui
from dashboard.files import PathRefused, display_path

# (script, title, icon); a page's URL is its file name (``/side_by_side?path=...``).
PAGES = (
    ("views/overview.py", "Overview", ":material/dashboard:"),
    ("views/side_by_side.py", "Side by side", ":material/view_column:"),
    ("views/quality.py", "Quality", ":material/table_chart:"),
    ("views/forensics.py", "Forensics", ":material/policy:"),
    ("views/dataset.py", "Dataset", ":material/dataset:"),
)


def main() -> None:
    st.set_page_config(page_title="dancenow dashboard", page_icon=":material/directions_run:", layout="wide")
    pages = [
        st.Page(path, title=title, icon=icon, default=i == 0) for i, (path, title, icon) in enumerate(PAGES)
    ]
    page = st.navigation(pages)
    roots = loaders.roots()
    with st.sidebar:
        st.caption("Reading (never writing) only inside:")
        for root in roots:
            st.caption(f"`{root}`" + ("" if root.is_dir() else " (missing)"))
        if st.button("Look for new results", help="results are listed again every 20 s anyway"):
            loaders.refresh()
        st.caption(
            f"Showing {len(loaders.discovery().items)} items from {', '.join(display_path(r, roots) for r in roots)}"
        )
    loaders.warm_up()
    try:
        page.run()
    except PathRefused as exc:  # a file that a record names, refused: say so instead of a traceback
        ui.refuse(str(exc))


main()
