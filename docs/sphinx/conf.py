# Sphinx configuration of the collection's documentation site, built by
# `make docs` from the RST that antsibull-docs writes out of the roles'
# argument specs and the modules' and filters' documentation.
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

project = 'medimaging.pacs_lb'
copyright = 'medimaging.pacs_lb contributors'
title = 'medimaging.pacs_lb documentation'
html_short_title = 'medimaging.pacs_lb'

extensions = ['sphinx.ext.autodoc', 'sphinx_antsibull_ext']
pygments_style = 'ansible'
highlight_language = 'YAML+Jinja'
html_theme = 'sphinx_ansible_theme'
html_show_sphinx = False
display_version = False
html_use_smartypants = True
html_use_modindex = False
html_use_index = False
html_copy_source = False
default_role = 'any'
nitpicky = True

# The generated pages link to labels of docs.ansible.com (common return values,
# configuration settings), which resolve through intersphinx inventories
# fetched from the network. The build is offline, so those references are not
# resolved (ref.ref); every other warning still fails the build (-W).
intersphinx_mapping = {}
suppress_warnings = ['ref.ref']
