"""cdlite.nn"""
