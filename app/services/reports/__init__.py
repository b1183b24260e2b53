"""Reports for people: the Table 1 layout, the dashboard's SVG charts and their HTML."""
