"""Senim's edge runner for camera hosts. Kept light on purpose: it imports numpy, OpenCV,
ai_edge_litert, httpx, cryptography and PyYAML, never the training or serving stack."""
