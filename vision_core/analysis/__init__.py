"""Analysis of a trained model: evaluation (confusion matrix, per-class metrics), inspection (filters, feature
maps), saliency (Grad-CAM) and export (state_dict, ONNX).

Pure PyTorch over a model and a dataset; imports nothing of the project's other wings.
"""
