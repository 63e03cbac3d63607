"""The converter's graph IR (graph.py) and the passes that simplify it (passes.py)."""
