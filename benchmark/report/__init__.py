"""An experiment's runs read from MLflow and turned into statistics, tables, plots and a page."""
