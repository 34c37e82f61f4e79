/* vsnprintf and the console printf family (see <stdio.h>). */
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <mrt/console.h>

struct out {
	char *buf;		/* NULL: to the console */
	size_t size, n;		/* capacity, characters produced */
};

static void put(struct out *o, char c)
{
	if (o->buf == NULL)
		mrt_console_write(&c, 1);
	else if (o->n + 1 < o->size)
		o->buf[o->n] = c;
	o->n++;
}

static void pad(struct out *o, char c, int count)
{
	while (count-- > 0)
		put(o, c);
}

enum { F_LEFT = 1, F_ZERO = 2, F_PLUS = 4, F_SPACE = 8 };

static void number(struct out *o, uintmax_t v, int neg, unsigned base, int upper, int flags,
		   int width, int prec)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[32];
	int len = 0, sign = neg || (flags & (F_PLUS | F_SPACE));

	do {
		tmp[len++] = digits[v % base];
		v /= base;
	} while (v != 0);
	if (prec == 0 && len == 1 && tmp[0] == '0')
		len = 0;
	int zeros = prec > len ? prec - len : 0;
	int total = len + zeros + sign;
	if (prec < 0 && (flags & F_ZERO) && !(flags & F_LEFT) && width > total) {
		zeros += width - total;
		total = width;
	}
	if (!(flags & F_LEFT))
		pad(o, ' ', width - total);
	if (sign)
		put(o, neg ? '-' : (flags & F_PLUS) ? '+' : ' ');
	pad(o, '0', zeros);
	while (len > 0)
		put(o, tmp[--len]);
	if (flags & F_LEFT)
		pad(o, ' ', width - total);
}

static int format(struct out *o, const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		int flags = 0, width = 0, prec = -1, lng = 0;

		if (*fmt != '%') {
			put(o, *fmt);
			continue;
		}
		for (;; fmt++) {
			char f = fmt[1];
			if (f == '-') flags |= F_LEFT;
			else if (f == '0') flags |= F_ZERO;
			else if (f == '+') flags |= F_PLUS;
			else if (f == ' ') flags |= F_SPACE;
			else if (f == '#') ;
			else break;
		}
		fmt++;
		if (*fmt == '*') {
			width = va_arg(ap, int);
			if (width < 0) {
				flags |= F_LEFT;
				width = -width;
			}
			fmt++;
		} else {
			while (*fmt >= '0' && *fmt <= '9')
				width = width * 10 + (*fmt++ - '0');
		}
		if (*fmt == '.') {
			fmt++;
			prec = 0;
			if (*fmt == '*') {
				prec = va_arg(ap, int);
				fmt++;
			} else {
				while (*fmt >= '0' && *fmt <= '9')
					prec = prec * 10 + (*fmt++ - '0');
			}
		}
		/* 0: int, 1: long, 2: long long, -1: short, -2: char, 3: size_t/ptrdiff/intmax */
		for (;; fmt++) {
			if (*fmt == 'l') lng = lng == 1 ? 2 : 1;
			else if (*fmt == 'h') lng = lng == -1 ? -2 : -1;
			else if (*fmt == 'z' || *fmt == 't' || *fmt == 'j') lng = 3;
			else break;
		}
		switch (*fmt) {
		case 'd':
		case 'i': {
			intmax_t v;
			if (lng == 0) v = va_arg(ap, int);
			else if (lng == -1) v = (short)va_arg(ap, int);
			else if (lng == -2) v = (signed char)va_arg(ap, int);
			else if (lng == 1) v = va_arg(ap, long);
			else v = va_arg(ap, long long);
			number(o, v < 0 ? -(uintmax_t)v : (uintmax_t)v, v < 0, 10, 0, flags, width, prec);
			break;
		}
		case 'u':
		case 'x':
		case 'X':
		case 'o': {
			uintmax_t v;
			if (lng == 0) v = va_arg(ap, unsigned);
			else if (lng == -1) v = (unsigned short)va_arg(ap, unsigned);
			else if (lng == -2) v = (unsigned char)va_arg(ap, unsigned);
			else if (lng == 1) v = va_arg(ap, unsigned long);
			else v = va_arg(ap, unsigned long long);
			number(o, v, 0, *fmt == 'u' ? 10 : *fmt == 'o' ? 8 : 16, *fmt == 'X',
			       flags & ~(F_PLUS | F_SPACE), width, prec);
			break;
		}
		case 'p':
			put(o, '0');
			put(o, 'x');
			number(o, (uintptr_t)va_arg(ap, void *), 0, 16, 0, 0, 0, -1);
			break;
		case 'c':
			if (!(flags & F_LEFT))
				pad(o, ' ', width - 1);
			put(o, (char)va_arg(ap, int));
			if (flags & F_LEFT)
				pad(o, ' ', width - 1);
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			int len;
			if (s == NULL)
				s = "(null)";
			len = (int)strnlen(s, prec < 0 ? (size_t)-1 : (size_t)prec);
			if (!(flags & F_LEFT))
				pad(o, ' ', width - len);
			for (int i = 0; i < len; i++)
				put(o, s[i]);
			if (flags & F_LEFT)
				pad(o, ' ', width - len);
			break;
		}
		case '%':
			put(o, '%');
			break;
		case '\0':
			fmt--;
			break;
		default:
			put(o, '%');
			put(o, *fmt);
			break;
		}
	}
	return (int)o->n;
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	static char dummy;
	struct out o = { size ? buf : &dummy, size ? size : 1, 0 };
	int n = format(&o, fmt, ap);

	o.buf[o.n < o.size ? o.n : o.size - 1] = '\0';
	return n;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

int vprintf(const char *fmt, va_list ap)
{
	struct out o = { NULL, 0, 0 };

	return format(&o, fmt, ap);
}

int printf(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vprintf(fmt, ap);
	va_end(ap);
	return n;
}

int puts(const char *s)
{
	mrt_console_write(s, strlen(s));
	mrt_console_write("\n", 1);
	return 0;
}

int putchar(int c)
{
	char ch = (char)c;

	mrt_console_write(&ch, 1);
	return (unsigned char)c;
}
