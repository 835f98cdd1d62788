"""cdlite.theory"""
