"Everything a finished-helper user needs: `from stylecourse.all import *`."
from .sources import *
from .images import *
from .samples import *
from .optimize import *
from .vgg import *
from .hooks import *
from .gram import *
from .drawing import *
from .lbfgs import *
from .memory import *
from .transfer import *
from .tutorial import *
from .widgets import *
from .controls import *
from .nca import *
from .big import *
