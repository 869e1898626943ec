/* placeholder: the CLI helper replaces this file */
int main(void) { return 0; }
