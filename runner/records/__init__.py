"""The output folder's records: the state store (.backdrop/state.db), backdrop.lock, spend.

Below execute, which writes them, and report, review, status and deliver, which read them.
"""
