/* shim: see dnnl.h */
