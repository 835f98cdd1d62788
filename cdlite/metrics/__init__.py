"""cdlite.metrics"""
