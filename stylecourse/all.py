"Everything a finished-helper user needs: `from stylecourse.all import *`."
from .images import *
from .optimize import *
from .vgg import *
from .hooks import *
from .gram import *
from .lbfgs import *
from .transfer import *
from .widgets import *
from .nca import *
