"""The app's page table (plain data, no Streamlit import, so the engine's `bench ui` and the tests can read
it without importing Streamlit)."""

# (script, title, material icon, url path): the navigation, in order; the first is the home page at "/".
PAGE_TABLE = [
    ("pages/home.py", "Twin Lab", ":material/science:", ""),
    ("pages/synthesis.py", "Synthesis twin", ":material/deployed_code:", "synthesis"),
    ("pages/astrochem.py", "Astrochemistry", ":material/nights_stay:", "astrochem"),
    ("pages/diffusion.py", "Graph diffusion", ":material/hub:", "diffusion"),
    ("pages/hybrid_pde.py", "Hybrid PDE", ":material/waves:", "hybrid_pde"),
    ("pages/runs.py", "Runs", ":material/history:", "runs"),
]


# run kind family (its name up to the first "." or "-") -> the page that makes and reopens runs of that family
RUN_PAGES = {"synth": "pages/synthesis.py", "astrochem": "pages/astrochem.py", "diffusion": "pages/diffusion.py",
             "pde": "pages/hybrid_pde.py", "hybrid": "pages/hybrid_pde.py"}
