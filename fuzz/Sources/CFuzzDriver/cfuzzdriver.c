// Only the declaration in include/cfuzzdriver.h is needed; SwiftPM wants a source file.
#include "cfuzzdriver.h"
