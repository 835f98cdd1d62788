"""cdlite.experiments"""
