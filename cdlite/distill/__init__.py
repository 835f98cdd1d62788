"""cdlite.distill"""
