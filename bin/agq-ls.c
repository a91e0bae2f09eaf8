#include "agq.h"
int main(int c,char**v){(void)c;(void)v;return 0;}
