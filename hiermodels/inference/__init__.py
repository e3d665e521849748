"""Fitting: the plan that decides every fit (``plan``), sampling (``fitting``), the joint mode (``mode``), the queue,
progress text and the REML preview.
"""
