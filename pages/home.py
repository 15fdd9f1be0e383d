"""Home: what each twin does, with a picture per twin, and the system panel."""

import streamlit as st

from pages.common import ASSETS, follow_run_link, system_info

TWINS = [
    ("Synthesis twin", "pages/synthesis.py", "twin_synthesis.svg",
     "Hot-injection CsPbBr3 nanocrystal synthesis: nucleation, growth, phase selection "
     "(cubes, platelets, Cs4PbBr6, CsPb2Br5), ligand effects and optics (PL peak, linewidth)."),
    ("Astrochemistry", "pages/astrochem.py", "twin_astrochem.svg",
     "A UMIST RATE22 gas-phase network for dense and diffuse clouds, a stiff ODE solver as ground "
     "truth, and a learned emulator that rolls abundances forward far faster."),
    ("Graph diffusion", "pages/diffusion.py", "twin_diffusion.svg",
     "A diffusion generative model whose forward process is driven by a graph Laplacian: watch "
     "reverse sampling trajectories of spin and field configurations live."),
    ("Hybrid PDE", "pages/hybrid_pde.py", "twin_hybrid.svg",
     "Burgers, heat, advection and smoke solvers with learnable parameters, neural surrogates, "
     "and hybrid training of the two."),
]

st.title("Twin Lab")
follow_run_link()
st.markdown(
    "Four physics-plus-machine-learning digital twins in one instrument: sweep parameters, "
    "watch models run, and compare against ground-truth physics."
)

columns = st.columns(2)
for index, (title, page, image, text) in enumerate(TWINS):
    with columns[index % 2].container(border=True):
        st.image(str(ASSETS / image), width="stretch")
        st.page_link(page, label=title, icon=":material/arrow_forward:")
        st.markdown(f"<div class='twin-muted'>{text}</div>", unsafe_allow_html=True)

# Built only when opened (on_change="rerun" makes the expander's state known to the script): the versions
# table is the page's heaviest element.
system = st.expander("System", icon=":material/memory:", key="home_system", on_change="rerun")
if system.open:
    with system:
        info = system_info()
        left, middle, right = st.columns(3)
        left.metric("Array backend", info["backend"])
        middle.metric("Torch device", info["device"])
        right.metric("CPU cores", info["cpu_count"])
        st.caption(f"Numba JIT: {'on' if info['numba'] else 'off'} · {info['platform']}")
        st.dataframe(
            [{"package": name, "version": version or "not installed"} for name, version in info["versions"].items()],
            hide_index=True, width="stretch",
        )
