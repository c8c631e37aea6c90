"""Views of runs and graphs: pure SVG/HTML renderers, the ipywidgets explorer, comparisons."""
