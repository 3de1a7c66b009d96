"""The dashboard's pages, one module per page type; dashboard/routes.py gives each its URLs."""
