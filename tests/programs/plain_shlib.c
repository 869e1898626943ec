/* Calls into libplainlib_leak.so, which leaks 4 blocks of 32 bytes. */
char *plainlib_make_name(int i);
char *volatile sink;

int main(void)
{
    for (int i = 0; i < 4; i++)
        sink = plainlib_make_name(i);
    return 0;
}
