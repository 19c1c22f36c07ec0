"""rfm-stream: continuous RFM segmentation of retail customers.

The pure engine lives in :mod:`stream_app.core`; adapters turn datasets into
canonical order events; the batch job, the Faust worker and the local stack are
thin layers around the same core, so batch and streaming agree exactly.
"""

__version__ = "0.1.0"
