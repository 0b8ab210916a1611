/**
 * The response header of `GET /v1/nodes` that says how long ago the list answered was the view
 * in force, ms: 0 from the control app (it reads the view in force); the API worker's prepared
 * list says its age (api_front.ts). Its own module: the API worker reads it without the routes.
 * @module
 */

/** The header's name. */
export const VIEW_AGE_HEADER = "weft-view-age-ms";
