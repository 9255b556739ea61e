"""Pure statistics for Deploy Tracker (NumPy/SciPy only, no Django imports).

`impact` judges a deploy's live metrics against its baseline; `drift` judges its inputs and predictions.
"""
