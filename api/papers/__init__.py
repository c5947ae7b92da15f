"""Export papers of a container from its scans, the catalogue and its shipment record.

``compose`` reconciles the figures once (model.py); every document renders from that one
result, so the invoice, packing list, PEB goods data and Form E sheet cannot disagree.
"""
