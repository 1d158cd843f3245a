"""Streamlit dashboard: reads the monitor store, never imports torch."""
