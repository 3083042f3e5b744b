# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Stand-in for the get-pip.py that ansible-test downloads to bootstrap pip in its sanity virtual environments.

ansible-test fetches that script from a host of its own, which a machine that reaches only the package
registries cannot reach; `make sanity` puts this file in its cache (~/.ansible/test/cache/get_pip_<version>.py)
when no script is there. It takes get-pip.py's arguments (pip options and the packages to install, such as
pip==24.2, plus --no-setuptools and --no-wheel) and does the same with what Python ships: ensurepip installs
the bundled pip into the new environment, which then installs the requested packages from the package index.
"""

import subprocess
import sys

GET_PIP_ONLY = ('--no-setuptools', '--no-wheel')

subprocess.check_call([sys.executable, '-m', 'ensurepip', '--default-pip'], stdout=subprocess.DEVNULL)
subprocess.check_call([sys.executable, '-m', 'pip', 'install', '--quiet']
                      + [argument for argument in sys.argv[1:] if argument not in GET_PIP_ONLY])
