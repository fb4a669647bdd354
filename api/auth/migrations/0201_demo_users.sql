-- 0201_demo_users: demo accounts are marked, so a production start can refuse them and a demo start can leave
-- every other account alone (issue 19, finding 6). Owned by api/auth.
ALTER TABLE api_users ADD COLUMN demo boolean NOT NULL DEFAULT false;

-- Databases that already had a demo start: its four users had their passwords printed on a console.
UPDATE api_users SET demo = true
 WHERE username IN ('viewer', 'operator', 'engineer', 'admin')
   AND EXISTS (SELECT 1 FROM audit_log WHERE action = 'user.demo_reset');
