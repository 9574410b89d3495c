-- Events store the path of the record they are about (a node path,
-- /changes/<id>, /steps/<id>); the API prefixes /api when it renders the link.

-- +goose Up
UPDATE events SET source_link = substr(source_link, 5) WHERE source_link LIKE '/api/%';

-- +goose Down
UPDATE events SET source_link = '/api' || source_link WHERE source_link LIKE '/%' AND source_link NOT LIKE '/api/%';
