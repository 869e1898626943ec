/* The seed's UI from Python: the memory-management and system-status panels rendered as text,
 * HTML or JSON (astrolab/ui/components.py makes them Jupyter-renderable objects), the widget
 * status, and the live dashboard served from inside the Python process. */
#include <stdlib.h>
#include <string.h>

#include "ext.h"

/* _panel(kind, format): kind "memory" or "system"; format "text", "html" or "json". */
static PyObject *panel(PyObject *self, PyObject *args)
{
    (void)self;
    const char *kind, *format;
    if (!PyArg_ParseTuple(args, "ss:_panel", &kind, &format))
        return NULL;
    al_ui_format f;
    if (!strcmp(format, "text"))
        f = AL_UI_TEXT;
    else if (!strcmp(format, "html"))
        f = AL_UI_HTML;
    else if (!strcmp(format, "json"))
        f = AL_UI_JSON;
    else
        return PyErr_Format(PyExc_ValueError, "format must be text, html or json, not %s", format);
    al_ui_panel *p;
    if (!strcmp(kind, "memory"))
        p = al_ui_memory_management();
    else if (!strcmp(kind, "system"))
        p = al_ui_system_status();
    else
        return PyErr_Format(PyExc_ValueError, "panel must be memory or system, not %s", kind);
    char *text = p ? al_ui_panel_render(p, f) : NULL;
    al_ui_panel_free(p);
    ext_log_drain();
    if (!text)
        return PyErr_NoMemory();
    PyObject *r = f == AL_UI_JSON ? ext_json_take(text) : PyUnicode_FromString(text);
    if (f != AL_UI_JSON)
        free(text);
    return r;
}

static PyObject *widget_status(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    al_widget_status ws;
    int rc = al_get_widget_status(&ws);
    ext_log_drain();
    if (rc != AL_OK)
        return ext_raise(rc, NULL, NULL);
    return Py_BuildValue("{s:O,s:O,s:O,s:i}", "available", ws.available ? Py_True : Py_False,
                         "cuda_available", ws.cuda_available ? Py_True : Py_False, "serving",
                         ws.serving ? Py_True : Py_False, "port", (int)ws.port);
}

/* _serve(host, port, open_reads): starts the dashboard; its URL (with the token). */
static PyObject *serve(PyObject *self, PyObject *args)
{
    (void)self;
    const char *host;
    int port, open_reads = 0;
    if (!PyArg_ParseTuple(args, "si|p:serve", &host, &port, &open_reads))
        return NULL;
    if (port < 0 || port > 65535)
        return PyErr_Format(PyExc_ValueError, "port must be 0..65535, not %d", port);
    al_ui_options o;
    al_ui_options_init(&o);
    o.host = host;
    o.port = (uint16_t)port;
    o.open_reads = open_reads;
    al_error err;
    int rc;
    PyThreadState *ts = PyEval_SaveThread();
    rc = al_ui_serve(&o, &err);
    PyEval_RestoreThread(ts);
    ext_log_drain();
    if (rc != AL_OK)
        return ext_raise_err(&err, NULL);
    char *url = al_ui_url();
    if (!url)
        return PyErr_NoMemory();
    PyObject *r = PyUnicode_FromString(url);
    free(url);
    return r;
}

static PyObject *stop(PyObject *self, PyObject *unused)
{
    (void)self, (void)unused;
    int rc;
    PyThreadState *ts = PyEval_SaveThread(); /* waits for the server's threads, which may log */
    rc = al_ui_stop();
    PyEval_RestoreThread(ts);
    ext_log_drain();
    return PyBool_FromLong(rc == AL_OK);
}

PyMethodDef ext_ui_methods[] = {
    {"_panel", panel, METH_VARARGS, "Render a panel: _panel(kind, format)."},
    {"get_widget_status", widget_status, METH_NOARGS, "al_get_widget_status as a dict."},
    {"_serve", serve, METH_VARARGS, "Start the live dashboard; returns its URL."},
    {"_stop", stop, METH_NOARGS, "Stop the dashboard."},
    {NULL, NULL, 0, NULL},
};
