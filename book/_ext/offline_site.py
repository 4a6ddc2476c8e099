"""Make the built site work with no internet: nothing on a
page comes from a CDN.

1. MathJax. Sphinx loads MathJax 3 from a CDN by default; this points
   ``mathjax_path`` at a copy inside the site's ``_static/`` folder instead.
   The files come from the pinned PyPI package ``sphinx-mathjax-offline``
   (MathJax 3.2.2, Apache-2.0 licence); only its files are used, not its
   Sphinx hook.
2. Thebe. sphinx-thebe (on by default in Jupyter Book) adds scripts to every
   page that would fetch Thebe from a CDN to run code live on Binder. The
   book turns Thebe off (``launch_buttons: thebe: false``), so those scripts
   are dropped. (With Sphinx 7.4 its inline script is also written twice,
   and the second copy throws "Identifier 'THEBE_JS_URL' has already been
   declared" on every page.)

Enable it in ``_config.yml`` under ``sphinx: local_extensions``.
"""

from importlib.util import find_spec
from pathlib import Path

from sphinx.errors import ExtensionError

# MathJax's own default bundle (TeX and MathML in, CommonHTML out), the same
# one Sphinx would load from the CDN; it fetches its fonts relative to
# itself.
MATHJAX_SCRIPT = "mathjax/tex-mml-chtml.js"
MATHJAX_PACKAGE = "sphinx-mathjax-offline"


def mathjax_static_dir() -> Path:
    """The folder that holds ``mathjax/``, inside the installed package."""
    # the package's import name has hyphens
    spec = find_spec(MATHJAX_PACKAGE)
    static = (
        Path(spec.origin).parent / "static"
        if spec and spec.origin
        else None
    )
    if static is None or not (static / MATHJAX_SCRIPT).is_file():
        raise ExtensionError(
            f"offline_site: {MATHJAX_SCRIPT} not found; "
            f"install the pinned {MATHJAX_PACKAGE} from requirements.txt"
        )
    return static


def _serve_local_mathjax(app, config) -> None:
    # Everything in an html_static_path entry lands in _static/, so the
    # files end up in _static/mathjax/, and a relative mathjax_path is read
    # from _static/.
    config.html_static_path = [
        *config.html_static_path,
        str(mathjax_static_dir()),
    ]
    config.mathjax_path = MATHJAX_SCRIPT


def _is_thebe_asset(asset) -> bool:
    filename = str(getattr(asset, "filename", asset) or "")
    body = getattr(asset, "attributes", {}).get("body", "")
    return "sphinx-thebe" in filename or "THEBE_JS_URL" in body


def _drop_thebe_assets(
    app, pagename, templatename, context, doctree
) -> None:
    launch_buttons = app.config.html_theme_options.get("launch_buttons", {})
    if launch_buttons.get("thebe"):
        return
    # New lists, so only this page's context changes, not the builder's.
    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = [
                asset
                for asset in context[key]
                if not _is_thebe_asset(asset)
            ]


def setup(app):
    app.setup_extension("sphinx.ext.mathjax")
    app.connect("config-inited", _serve_local_mathjax)
    app.connect("html-page-context", _drop_thebe_assets)
    return {
        "version": "1.0",
        "parallel_read_safe": True,
        "parallel_write_safe": True,
    }
