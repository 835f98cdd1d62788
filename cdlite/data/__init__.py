"""cdlite.data"""
